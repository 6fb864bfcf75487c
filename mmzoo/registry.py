"""A plain-dict registry with helpful errors, shared by towers, fusions and presets.

Example:

>>> from mmzoo.registry import Registry
>>> colors = Registry("color")
>>> _ = colors.register("red", "#f00")
>>> colors.get("red")
'#f00'
>>> colors.names("r*")
['red']
"""

import fnmatch


class Registry:
    """Maps names to objects; `get` of an unknown name lists the valid ones.

    Args:
        kind: what the registry holds, for error messages (e.g. `"fusion"`).

    Raises:
        ValueError: from `register` (a name taken twice) and `get` (an unknown name).

    See the module's example.
    """

    def __init__(self, kind):
        self.kind = kind
        self._items = {}

    def register(self, name, obj=None):
        """Registers `obj` under `name`; without `obj`, works as a decorator.

        Returns `obj` (or the decorator). Raises `ValueError` when `name` is taken.
        """
        if obj is None:
            return lambda fn: self.register(name, fn)
        if name in self._items:
            raise ValueError(f"A {self.kind} named {name!r} is already registered.")
        self._items[name] = obj
        return obj

    def get(self, name, argument=None):
        """Returns the object named `name`, or raises a ValueError listing valid names.

        `argument` (default: the registry's `kind`) is the name the error gives the
        value, as in `Received: fusion='nope'`.
        """
        if name not in self._items:
            argument = argument or self.kind
            raise ValueError(
                f"Unknown {self.kind} {name!r}. Valid names: {', '.join(self.names())}. "
                f"Received: {argument}={name!r}"
            )
        return self._items[name]

    def names(self, pattern=None):
        """Sorted names, optionally filtered by a shell-style `pattern` such as `"image/*"`."""
        names = sorted(self._items)
        if pattern is not None:
            names = [n for n in names if fnmatch.fnmatchcase(n, pattern)]
        return names

    def __contains__(self, name):
        return name in self._items

    def __iter__(self):
        return iter(self.names())

r"""Text standardization and vocabularies shared by every tokenizer kind.

`standardize_text` is the one standardization that `mmzoo.preprocessing.text.TextTokenizer`
applies (whatever its kind) and that vocabularies are learned on. It is graph code (RE2
regular expressions through `tf.strings.regex_replace`), so it runs the same in `tf.data`
and inside an exported SavedModel. In order:

1. Lower-case (Unicode-aware).
2. Delete punctuation (`\p{P}`) and every symbol (`\p{S}`: `+ $ © ™ → ■`...) that is not
   an emoji, and the presentation-only marks: variation selectors U+FE00-FE0F (the emoji
   selector U+FE0F among them) and U+E0100-E01EF, the keycap mark U+20E3 and the tag
   characters U+E0020-E007F. Nothing takes their place: "don't" -> "dont", "a+b" -> "ab".
3. Put spaces around every character of the scripts written without spaces between
   words, so each becomes its own token: Chinese and Japanese (`\p{Han}`,
   `\p{Hiragana}`, `\p{Katakana}`), Thai, Lao, Khmer and Myanmar. A character keeps the
   combining marks that follow it (Thai vowel and tone marks, Japanese dakuten), and in
   Khmer and Myanmar a consonant stacked under the previous one (after the coeng U+17D2
   or the virama U+1039) stays with it. Korean, written with spaces, keeps its words.
4. Put spaces around every emoji, so each is its own token: U+1F000-1FAFF,
   U+2600-2767, U+2794-27BF and the emoji-presentation characters outside those blocks
   (U+231A-231B, U+23E9-23F3, U+23F8-23FA, U+25FD-25FE, U+2B1B-2B1C, U+2B50, U+2B55).
   A pair of regional indicators (a flag, "🇯🇵") is one token. A ZWJ sequence becomes
   its parts ("👨‍👩‍👧" -> "👨 👩 👧", the joiners go in step 5), and a skin-tone
   modifier (U+1F3FB-1F3FF) is a token of its own ("👍🏽" -> "👍 🏽"): the base emoji
   keeps its id whatever the tone, and the tone is still seen.
5. Collapse whitespace (ASCII whitespace, Unicode spaces `\p{Z}` such as the
   ideographic space U+3000, and the zero-width space U+200B) into one space, and
   strip it at both ends. A zero-width joiner (U+200D) next to whitespace joins nothing
   and goes with it; as emoji now stand between spaces, this removes the joiners of
   emoji sequences.

Text in Latin, Cyrillic, Greek, Arabic, Devanagari, Hangul... standardizes exactly as
before emoji and these scripts were handled (so vocabularies learned then keep their
ids) unless it holds emoji or the symbols of U+2600-27BF (tokens now, deleted then),
variation selectors, tags or keycaps (deleted now, kept then), or whitespace other than
ASCII's, such as a no-break space (a space now, part of a word then).

Per-character splitting for Chinese and Japanese is what BERT's BasicTokenizer does
with CJK ideographs (Devlin et al. 2019, "BERT: Pre-training of Deep Bidirectional
Transformers for Language Understanding", NAACL; `tokenize_chinese_chars`); here it
extends to kana and to the unspaced South-East Asian scripts. Character unigrams are
competitive with segmented words for Chinese with neural models (Li et al. 2019, "Is
Word Segmentation Necessary for Deep Learning of Chinese Representations?", ACL);
sequence towers see neighbouring characters, so no bigram tokens are added. The emoji
ranges follow Unicode Technical Standard #51 (Unicode Emoji) and its emoji-data.txt
(Extended_Pictographic, Emoji_Presentation), simplified to whole blocks.

Id 0 is always "[PAD]" and id 1 "[UNK]".

>>> import tensorflow as tf
>>> from mmzoo.preprocessing.vocabulary import (
...     empty_after_standardization, standardize_text, with_special_tokens)
>>> standardize_text(tf.constant(["  Hello,   WORLD!! "])).numpy().tolist()
[b'hello world']
>>> [t.decode() for t in standardize_text(tf.constant(["I love 北京 🍜!", "👍🏽 +++"])).numpy()]
['i love 北 京 🍜', '👍 🏽']
>>> empty_after_standardization(["a cat", "+++", "👎", " ?! "])
[False, True, False, True]
>>> with_special_tokens(["cat", "[UNK]", "dog"])
['[PAD]', '[UNK]', 'cat', 'dog']
"""

import os

import numpy as np
import tensorflow as tf

# Plain graph code (tf.cond / tf.while_loop, no Python control flow on tensors): keeps
# AutoGraph from rewriting it, which is slow and changes nothing, inside Dataset.map.
graph_code = tf.autograph.experimental.do_not_convert

PAD_TOKEN = "[PAD]"
UNK_TOKEN = "[UNK]"
_SPECIAL_TOKENS = ("", PAD_TOKEN, UNK_TOKEN)

# RE2 character-class bodies (the module docstring gives the rule and its sources).
# Emoji: whole pictographic blocks plus the emoji-presentation characters outside them.
# U+2768-2793 (ornamental brackets, which are punctuation, and dingbat digits) are left
# out of the Dingbats block.
_EMOJI = (
    r"\x{1F000}-\x{1FAFF}\x{2600}-\x{2767}\x{2794}-\x{27BF}"
    r"\x{231A}\x{231B}\x{23E9}-\x{23F3}\x{23F8}-\x{23FA}\x{25FD}\x{25FE}"
    r"\x{2B1B}\x{2B1C}\x{2B50}\x{2B55}"
)
_REGIONAL_INDICATOR = r"\x{1F1E6}-\x{1F1FF}"
# Marks that only choose a presentation: variation selectors, the keycap, tags.
_PRESENTATION = r"\x{FE00}-\x{FE0F}\x{E0100}-\x{E01EF}\x{20E3}\x{E0020}-\x{E007F}"
# Deleted: punctuation and presentation marks, and symbols that are not emoji
# (`[^\P{S}...]` is "a symbol and none of ...": RE2 has no class subtraction).
_STRIP = r"[\p{P}" + _PRESENTATION + r"]|[^\P{S}" + _EMOJI + r"]"
# One token each: a flag (two regional indicators), an emoji, a character of an unspaced
# script with its combining marks (Khmer and Myanmar: with the consonants stacked under
# it). No capture group (the rewrite is `\0`): with one, RE2 runs its slow submatch
# engine on every match, and this pass took 3.5 times as long on Chinese text.
_SPLIT = (
    r"[" + _REGIONAL_INDICATOR + r"]{2}"
    r"|[" + _EMOJI + r"]"
    r"|[\p{Han}\p{Hiragana}\p{Katakana}\p{Thai}\p{Lao}]\p{M}*"
    r"|[\p{Khmer}\p{Myanmar}](?:[\x{17D2}\x{1039}][\p{Khmer}\p{Myanmar}]|\p{M})*"
)
# Whitespace: RE2's `\s` is ASCII only; Unicode spaces and the zero-width space count
# too, and a zero-width joiner next to whitespace (it joins nothing there: this is how
# the joiners of emoji sequences go once the emoji stand between spaces) goes with it.
# Only runs and single whitespace other than " " are rewritten: replacing every single
# " " by " " (as `\s+` did) costs as much as the rest of the standardization.
_SPACE = r"\s\p{Z}\x{200B}"
_SPACES = (
    r"\x{200D}+[" + _SPACE + r"][" + _SPACE + r"\x{200D}]*"
    r"|[" + _SPACE + r"][" + _SPACE + r"\x{200D}]+"
    r"|[^\S ]|[^\P{Z} ]|\x{200B}"
)


@graph_code
def standardize_text(texts):
    """Lower-cases, deletes punctuation and symbols, makes tokens of CJK/Thai characters and emoji.

    The same standardization for every tokenizer kind and for vocabulary learning; the
    module docstring gives the full rule. In short: lower-case; delete punctuation and
    symbols but keep emoji; put spaces around each Chinese, Japanese, Thai, Lao, Khmer
    and Myanmar character and each emoji (so a whitespace split makes each a token);
    collapse whitespace.

    Args:
        texts: `tf.string` tensor of any shape (or a list of strings). Invalid UTF-8
            bytes become U+FFFD, which is deleted as a symbol.

    Returns:
        `tf.string` tensor of the same shape.

    Raises:
        TypeError, tf.errors.InvalidArgumentError: `texts` is not strings.

    >>> import tensorflow as tf
    >>> standardize_text(tf.constant("Ça—va? «Oui»")).numpy().decode()
    'çava oui'
    >>> standardize_text(tf.constant("今日は、晴れ。")).numpy().decode()
    '今 日 は 晴 れ'
    >>> standardize_text(tf.constant("สวัสดี")).numpy().decode()  # marks stay with their letter
    'ส วั ส ดี'
    >>> standardize_text(tf.constant("👍👍 © a+b=c ❤️🇯🇵")).numpy().decode()
    '👍 👍 abc ❤ 🇯🇵'
    """
    texts = tf.strings.lower(texts, encoding="utf-8")
    texts = tf.strings.regex_replace(texts, _STRIP, "")
    texts = tf.strings.regex_replace(texts, _SPLIT, r" \0 ")
    texts = tf.strings.regex_replace(texts, _SPACES, " ")
    return tf.strings.strip(texts)


@tf.function(input_signature=[tf.TensorSpec([None], tf.string)], autograph=False)
def _standardizes_to_empty(texts):
    return tf.equal(tf.strings.length(standardize_text(texts)), 0)


def empty_after_standardization(texts, batch_size=8192):
    """Which texts `standardize_text` leaves empty: only punctuation, symbols or spaces.

    Such a text tokenizes to padding only, whatever the tokenizer kind, so a model
    cannot tell one from another (`"+++"`, `"?!"`, `""`). Emoji and CJK or Thai
    characters are kept by the standardization, so `"👎"` is not empty. Runs batched
    through TensorFlow: about 160,000 short English texts a second on a 2-core machine.

    Args:
        texts: list, tuple or 1-D numpy array of strings (`str` or UTF-8 `bytes`).
        batch_size: texts standardized per TensorFlow call.

    Returns:
        list of bool, one per text, True where the standardized text is "".

    Raises:
        ValueError: `texts` is one string or not a list of strings (the first item
            that is not a string is named by its index), or `batch_size` is not a
            positive int.

    >>> empty_after_standardization(["A cat.", "+++", "", "👍👍", "北京", "$ 5"])
    [False, True, True, False, False, False]
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(
            f"`batch_size` must be a positive int. Received: batch_size={batch_size!r}"
        )
    if isinstance(texts, (str, bytes)):
        raise ValueError(
            f"`texts` must be a list of strings, not one string. Received: texts={texts!r:.60}"
        )
    if isinstance(texts, np.ndarray) and texts.ndim == 1:
        texts = texts.tolist()
    if not isinstance(texts, (list, tuple)):
        raise ValueError(
            "`texts` must be a list, tuple or 1-D array of strings. "
            f"Received: texts of type {type(texts).__name__}"
        )
    for index, text in enumerate(texts):
        if not isinstance(text, (str, bytes)):
            raise ValueError(
                f"`texts` must hold only strings. Received: texts[{index}]={text!r:.60} "
                f"of type {type(text).__name__}"
            )
    empty = []
    for start in range(0, len(texts), batch_size):
        batch = tf.constant(texts[start : start + batch_size], tf.string)
        empty.extend(_standardizes_to_empty(batch).numpy().tolist())
    return empty


def learn_wordpiece_vocabulary(texts, vocab_size, standardize=True, learn_params=None):
    """Learns a WordPiece vocabulary from training texts.

    Uses `tensorflow_text.tools.wordpiece_vocab.bert_vocab_from_dataset` on the
    standardized texts (so it splits words on whitespace and punctuation as
    `TextTokenizer(kind="wordpiece")` does).

    Args:
        texts: list/array of strings or a `tf.data.Dataset` of strings (batched or
            not): the training split only.
        vocab_size: target vocabulary size, "[PAD]" and "[UNK]" included. The
            learner always keeps every character of the corpus and its "##" suffix
            form, so a tiny corpus can give a few more tokens than this.
        standardize: apply `standardize_text` first (as the tokenizer does).
        learn_params: optional dict of extra arguments for the learner
            (`wordpiece_tokenizer_learner_lib.learn`); `lower_thresh` defaults to 1
            here so small corpora still fill the vocabulary.

    Returns:
        list of tokens with "[PAD]" at index 0 and "[UNK]" at index 1.

    Raises:
        ValueError: `vocab_size` is not an int >= 3, or `texts` is not a non-empty
            list of strings or a dataset of strings.

    >>> vocabulary = learn_wordpiece_vocabulary(["a cat", "a hat"], vocab_size=20)
    >>> vocabulary[:2], "cat" in vocabulary
    (['[PAD]', '[UNK]'], True)
    """
    from tensorflow_text.tools.wordpiece_vocab import bert_vocab_from_dataset

    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 3:
        raise ValueError(f"`vocab_size` must be an int >= 3. Received: vocab_size={vocab_size!r}")
    dataset = string_dataset(texts, "texts")
    if standardize:
        dataset = dataset.map(standardize_text)
    params = {"lower_thresh": 1, **(learn_params or {})}
    vocabulary = bert_vocab_from_dataset.bert_vocab_from_dataset(
        dataset,
        vocab_size=vocab_size,
        reserved_tokens=[PAD_TOKEN, UNK_TOKEN],
        bert_tokenizer_params={"lower_case": False},
        learn_params=params,
    )
    return with_special_tokens(vocabulary)


def with_special_tokens(tokens):
    """`["[PAD]", "[UNK]", *tokens]` without the special tokens and "" among `tokens`.

    Raises:
        ValueError: a token occurs twice.
    """
    tokens = [t for t in tokens if t not in _SPECIAL_TOKENS]
    seen = set()
    duplicates = sorted({t for t in tokens if t in seen or seen.add(t)})
    if duplicates:
        raise ValueError(
            f"`vocabulary` holds duplicate tokens: {duplicates[:10]}. "
            f"Received: vocabulary with {len(tokens)} tokens"
        )
    return [PAD_TOKEN, UNK_TOKEN] + tokens


def read_vocabulary(vocabulary):
    """The tokens of a list/array of strings (or bytes) or of a file, one token a line.

    Raises:
        ValueError: the file does not exist, or `vocabulary` is neither.
    """
    if isinstance(vocabulary, (str, os.PathLike)):
        path = os.fspath(vocabulary)
        if not os.path.isfile(path):
            raise ValueError(f"Vocabulary file not found: {path!r}. Received: vocabulary={path!r}")
        with open(path, encoding="utf-8") as f:
            return [line.rstrip("\r\n") for line in f if line.rstrip("\r\n")]
    if isinstance(vocabulary, np.ndarray):
        vocabulary = vocabulary.tolist()
    if not isinstance(vocabulary, (list, tuple)) or not all(
        isinstance(t, (str, bytes)) for t in vocabulary
    ):
        raise ValueError(
            "`vocabulary` must be a list of strings or a vocabulary file path. "
            f"Received: vocabulary of type {type(vocabulary).__name__}"
        )
    return [t.decode("utf-8") if isinstance(t, bytes) else t for t in vocabulary]


def string_dataset(data, arg, batch_size=256):
    """A dataset of rank-1 string batches from a list/array or a dataset of strings."""
    if isinstance(data, tf.data.Dataset):
        spec = data.element_spec
        if not isinstance(spec, tf.TensorSpec) or spec.dtype != tf.string:
            raise ValueError(
                f"`{arg}` must be a dataset of strings. Received: {arg} with element_spec={spec}"
            )
        if spec.shape.rank == 0:
            return data.batch(batch_size)
        return data.map(lambda x: tf.reshape(x, [-1]))
    if isinstance(data, (str, bytes)):
        raise ValueError(
            f"`{arg}` must be a list of strings, not one string. Received: {arg}={data!r:.60}"
        )
    if isinstance(data, np.ndarray):
        data = data.reshape(-1).tolist()
    if (
        not isinstance(data, (list, tuple))
        or not data
        or not all(isinstance(t, (str, bytes)) for t in data)
    ):
        raise ValueError(
            f"`{arg}` must be a non-empty list of strings or a tf.data.Dataset of strings. "
            f"Received: {arg} of type {type(data).__name__}"
        )
    return tf.data.Dataset.from_tensor_slices(tf.constant(list(data), tf.string)).batch(batch_size)

"""mmzoo: a Keras 3 model zoo for multimodal learning (being assembled)."""

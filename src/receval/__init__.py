"""receval: warehouse-native evaluation and experimentation for recommendation models."""

__version__ = "0.1.0"

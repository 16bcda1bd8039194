"""Grace: a self-hosted model registry that watches the models it serves and heals them."""

__version__ = "0.1.0"

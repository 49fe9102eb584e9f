"""incls: live document classification for editors on an incremental VQ transformer."""

__version__ = "0.1.0"

"""umltui: User Mode Linux guests, consoles, management and networks in one terminal."""

__version__ = "0.1.0"

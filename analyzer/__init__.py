"""tls-analyzer: passive TLS handshake analysis."""

from analyzer import native  # first: decides between the compiled and the pure-Python hot path

__version__ = "0.1.0"

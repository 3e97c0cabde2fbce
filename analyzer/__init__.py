"""tls-analyzer: passive TLS handshake analysis."""

__version__ = "0.1.0"

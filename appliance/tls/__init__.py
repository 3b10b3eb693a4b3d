"""TLS on the hospital network: certificates, the server's SSL context, renewal and client certificates."""

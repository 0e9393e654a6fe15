"""tooltool-proxy: a stateless tooltool server in front of object storage."""

"""Secret stores: the protocol, one module per kind (Key Vault, the sandbox's own file)."""

"""AWS components: the network, the secrets key, the EKS cluster and its node group."""

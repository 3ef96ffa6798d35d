"""What the cloud adapters share: the retry policy and request budget, and Azure's credential."""

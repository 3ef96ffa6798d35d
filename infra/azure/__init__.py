"""Azure components of the platform, one `ComponentResource` per concept."""

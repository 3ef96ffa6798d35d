"""Cloudflare components: a weighted load balancer per released service."""

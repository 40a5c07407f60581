"""The labs' methods (notebooks 07-09): continuous time, flow maps, guidance and latent consistency models."""

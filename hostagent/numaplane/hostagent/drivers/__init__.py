"""Where an agent's observations come from and where its commands land."""

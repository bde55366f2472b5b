"""Ray Serve application: routing, embedding and comparison endpoints over a registry version."""

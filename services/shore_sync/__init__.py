"""Ship to shore: redacted incidents leave the ship through a JetStream outbox that the shore
hub sources across a NATS leaf-node link; the hub stores every ship's incidents."""

"""hubtune's throughput benchmark: hubtune vs a plain PyTorch loop vs the transformers Trainer (see README.md)."""

"""latentgraph: identifiable causal representation learning as probabilistic programs."""

__version__ = "0.1.0"

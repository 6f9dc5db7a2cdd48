"""What is computed once per image: embeddings and image statistics (cached), and the nearest-neighbour graph."""

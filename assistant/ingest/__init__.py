"""Reading the corpus, cutting it into chunks, and building the index."""

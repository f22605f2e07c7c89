"""Matrix-factorization models: ExplicitALS, GenreALS, BPR, ImplicitALS."""

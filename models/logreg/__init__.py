"""L2-penalized logistic regression (binary and multinomial) with scikit-learn's C."""

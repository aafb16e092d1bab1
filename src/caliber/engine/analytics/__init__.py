"""Analytics on a scored campaign: outlier detection, score explanations and learned
weights. Pure and seeded; scikit-learn, SHAP and the optimizer are imported only when a
method that needs them runs."""

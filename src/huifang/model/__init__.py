"""Behaviour model: WoE scorecards, a gradient-boosted challenger, validation and export.

Modules, one concept each:

* `binning`     – optimal monotonic binning (optbinning finds the cut points) and WoE;
* `scorecard`   – logistic regression on WoE turned into a points table (base 600, PDO 20);
* `metrics`     – AUC, KS, Gini, calibration by score band, PSI;
* `validation`  – k-fold cross-validation and time-based holdout of the whole pipeline;
* `gbm`         – the gradient-boosted alternative (scikit-learn HistGradientBoosting);
* `export`      – the points table as DuckDB SQL CASE expressions for the nightly run;
* `reasons`     – reason codes (the bins that cost most points) in Chinese and English;
* `book_features` – the feature table and 12-month 90+ DPD target from the loan book;
* `artifact`    – versioned model directories under `$HUIFANG_HOME/models/`;
* `public_data` – exports public credit data sets shipped inside PyPI packages to CSV.

Everything here except `book_features` works on any pandas DataFrame; pandas, scikit-learn
and optbinning come with the `model` extra.
"""

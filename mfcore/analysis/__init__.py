"""The paper's study: data figures, training and tuning figures, case studies.

Every figure is a pair of functions:

* a *data* function that returns a tidy :class:`pandas.DataFrame` (pure, no
  plotting library needed, easy to test and reuse), and
* a *plot* function that draws that frame with matplotlib and returns the
  :class:`matplotlib.figure.Figure`.

matplotlib (and the t-SNE implementation) are an optional extra,
``pip install "mfcore[report]"``; the data functions work without it and the
plot functions raise an ImportError naming that command.

Modules: ``data`` (figures of the ratings themselves), ``models`` (learning
curves, ranking curves, case studies of fitted models), ``data_plots`` /
``model_plots`` (their drawings), ``report`` (the whole study as PNG + JSON +
HTML).
"""

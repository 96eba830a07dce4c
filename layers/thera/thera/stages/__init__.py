"""One composition module per Lambda function, named like its folder under functions/.

``functions/x/app.py`` calls ``thera.stages.x.handle``; stage ``x`` reads its settings once, builds its
adapters, calls one service of the core and emits its metrics. Nothing is imported here: each function
loads only its own stage (and its own heavy dependencies).
"""

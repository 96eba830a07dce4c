"""The weekly training's task functions: one handler per state of statemachine/weekly_training.asl.json.

Four functions share this file (Handler app.build_training_set, app.train, app.evaluate,
app.promote) and differ in their layers: only TrainFunction carries scikit-learn, only
EvaluateFunction matplotlib.
"""

from __future__ import annotations

from thera.observability import entry
from thera.stages import weekly_training

build_training_set = entry(weekly_training.build_training_set)
train = entry(weekly_training.train)
evaluate = entry(weekly_training.evaluate)
promote = entry(weekly_training.promote)

"""What the team's decisions teach: the weekly training's labelled set and metrics (training),
fitting the models (trainers), the state machine's steps (weekly), the evaluation report
(report), the daily Average Match Score of the shortlists (ams), and the decisions imported
from before Thera (imported).
"""

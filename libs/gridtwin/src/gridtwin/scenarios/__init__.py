"""Scenarios a planner can stack: EV charging, rooftop solar, weather, tariffs and mandates.

``schema`` is the file format; ``base`` builds a feeder's starting state; ``compose`` applies the
layers in order; ``overlay`` turns the result into the model and profiles QSTS runs; ``sweep``
samples parameters; ``diff`` compares runs.
"""

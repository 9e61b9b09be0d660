"""Analytics: a Kafka consumer that turns interaction and feedback events into daily figures.

`python -m analytics` runs it. Each event is counted once however often Kafka delivers it.
"""

"""Next best action in banking: offers and alerts decided on live account events.

Run it with :func:`upwell.examples.next_best_action.demo.run_demo`.
"""

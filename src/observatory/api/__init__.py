"""The query API: GraphQL over the per-request store (`observatory api`), and `observatory report`."""

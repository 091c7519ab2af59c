"""A local stand-in for Upwork's pages, GraphQL API and OAuth endpoints, for tests and demos on 127.0.0.1."""

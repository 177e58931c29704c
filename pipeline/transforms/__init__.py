"""Transforms: faust agents topic -> topic (normalize, enrich, rules, routing); actions live in pipeline/actions."""

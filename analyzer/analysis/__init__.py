"""Judgement over connection facts: findings, policy checks and fingerprints."""

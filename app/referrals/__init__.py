"""Referrals and progress: plan and track."""

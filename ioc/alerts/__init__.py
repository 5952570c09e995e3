"""Threshold alerts: rules and the pure state machine that judges KPI values against them."""

"""Tests of app.components.coupons."""

"""URLs under /api/analytics/."""

from django.urls import path

from applications.analytics import views

urlpatterns = [
    path("funnel/", views.FunnelView.as_view(), name="analytics-funnel"),
    path("rates/", views.RatesView.as_view(), name="analytics-rates"),
    path("calibration/", views.CalibrationView.as_view(), name="analytics-calibration"),
    path("calibration/apply/", views.CalibrationApplyView.as_view(), name="analytics-calibration-apply"),
    path("calibration/revert/", views.CalibrationRevertView.as_view(), name="analytics-calibration-revert"),
    path("export.csv", views.ExportView.as_view(), name="analytics-export"),
]

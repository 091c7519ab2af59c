"""URLs under /api/jobs/."""

from django.urls import path
from rest_framework.routers import DefaultRouter

from jobs.views import BrowserSessionViewSet, JobViewSet, SearchProfileViewSet, UpworkCallbackView, UpworkConnectView

router = DefaultRouter()
router.register("jobs", JobViewSet, basename="job")
router.register("profiles", SearchProfileViewSet, basename="search-profile")
router.register("sessions", BrowserSessionViewSet, basename="browser-session")

urlpatterns = [
    path("oauth/connect/", UpworkConnectView.as_view(), name="upwork-connect"),
    path("oauth/callback/", UpworkCallbackView.as_view(), name="upwork-callback"),
    *router.urls,
]

"""URLs under /api/notifications/."""

from rest_framework.routers import DefaultRouter

from notifications.views import ChannelViewSet, DeliveryViewSet

router = DefaultRouter()
router.register("channels", ChannelViewSet, basename="notification-channel")
router.register("deliveries", DeliveryViewSet, basename="notification-delivery")

urlpatterns = router.urls

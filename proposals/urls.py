"""URLs under /api/proposals/."""

from rest_framework.routers import DefaultRouter

from proposals.views import AttachmentViewSet, FreelancerProfileViewSet, ProposalViewSet

router = DefaultRouter()
router.register("proposals", ProposalViewSet, basename="proposal")
router.register("profiles", FreelancerProfileViewSet, basename="freelancer-profile")
router.register("attachments", AttachmentViewSet, basename="attachment")

urlpatterns = router.urls

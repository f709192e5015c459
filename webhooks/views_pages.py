"""The webhooks page: a requester's endpoints and their latest deliveries, with resend."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from tasks.views_pages import requester_required

from . import selectors, services
from .models import EVENT_NAMES


@requester_required
def webhooks_page(request):
    job_id = request.GET.get("job")
    job_id = int(job_id) if job_id and job_id.isdigit() else None
    created_secret = request.session.pop("webhook_secret", None)
    return render(
        request,
        "requester/webhooks.html",
        {
            "endpoints": selectors.endpoint_list(request.user, job_id),
            "deliveries": selectors.deliveries_recent(request.user, job_id=job_id),
            "job_id": job_id,
            "event_names": EVENT_NAMES,
            "created_secret": created_secret,
        },
    )


@requester_required
@require_POST
def webhook_create_view(request):
    from tasks.selectors import job_get_or_404

    job_id = request.POST.get("job") or ""
    job = job_get_or_404(request.user, int(job_id)) if job_id.isdigit() else None
    if job is not None and job.owner_id != request.user.pk:
        raise Http404("no such job of yours")  # staff may look at any job, but endpoints are for one's own
    try:
        endpoint = services.endpoint_create(
            owner=request.user,
            url=request.POST.get("url", "").strip()[:2000],
            events=request.POST.getlist("events"),
            job=job,
        )
    except services.EndpointError as exc:
        for field, problem in exc.args[0].items():
            messages.error(request, f"{field}: {problem}")
        return redirect("webhooks")
    request.session["webhook_secret"] = {"id": endpoint.pk, "secret": endpoint.secret}
    return redirect("webhooks")


@requester_required
@require_POST
def delivery_resend_view(request, delivery_id: int):
    delivery = get_object_or_404(selectors.deliveries_visible_to(request.user), pk=delivery_id)
    services.delivery_resend(delivery)
    messages.info(request, f"Delivery {delivery.pk} queued again.")
    return redirect("webhooks")

from rest_framework import serializers

from tasks.models import Job

from .models import EVENT_NAMES, Delivery, Endpoint


class EndpointSerializer(serializers.ModelSerializer):
    job = serializers.PrimaryKeyRelatedField(queryset=Job.objects.all(), allow_null=True, required=False)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=EVENT_NAMES), min_length=1, max_length=len(EVENT_NAMES)
    )
    # Write-only: the create response shows it once (views_api), nothing else ever does.
    secret = serializers.CharField(write_only=True, required=False, min_length=16, max_length=128)
    batch_size = serializers.IntegerField(min_value=1, max_value=1000, required=False)
    batch_seconds = serializers.FloatField(min_value=0.1, max_value=60, required=False)

    class Meta:
        model = Endpoint
        fields = ["id", "url", "job", "events", "secret", "active", "batch_size", "batch_seconds", "created_at"]
        read_only_fields = ["id", "created_at"]

    def validate_job(self, job):
        user = self.context["request"].user
        if job is not None and job.owner_id != user.pk:
            raise serializers.ValidationError("no such job of yours")
        return job

    def validate_url(self, url):
        from .delivery import url_problem

        problem = url_problem(url)
        if problem:
            raise serializers.ValidationError(problem)
        return url


class DeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = Delivery
        fields = [
            "id", "endpoint", "job", "event", "status", "attempts", "response_code", "error", "next_attempt_at",
            "created_at", "delivered_at",
        ]  # fmt: skip
        read_only_fields = fields


class DeliveryQuerySerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Delivery.Status.choices, required=False)
    job = serializers.IntegerField(min_value=1, required=False)

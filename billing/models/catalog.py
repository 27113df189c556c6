from django.db import models
from djmoney.models.fields import MoneyField

from billing.models.fields import PublicIdField


class Product(models.Model):
    public_id = PublicIdField(prefix="prod")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    active = models.BooleanField(default=True)
    metadata = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Interval(models.TextChoices):
    MONTH = "month", "Monthly"
    YEAR = "year", "Yearly"


class Price(models.Model):
    public_id = PublicIdField(prefix="price")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="prices")
    nickname = models.CharField(max_length=100, blank=True)
    unit_amount = MoneyField(max_digits=14, decimal_places=2)
    interval = models.CharField(max_length=5, choices=Interval, blank=True, help_text="Empty for a one-off price.")
    active = models.BooleanField(default=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["product__name", "unit_amount"]

    def __str__(self) -> str:
        per = f"/{self.interval}" if self.interval else " one-off"
        return f"{self.product.name} {self.unit_amount}{per}"

    @property
    def is_recurring(self) -> bool:
        return bool(self.interval)

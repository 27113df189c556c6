"""The catalog admins: products and their prices (no services; plain admins)."""

from django.contrib import admin

from billing.models import Price, Product


class PriceInline(admin.TabularInline):
    model = Price
    fields = ("public_id", "nickname", "unit_amount", "interval", "active")
    readonly_fields = ("public_id",)
    extra = 1
    show_change_link = True


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ("name", "public_id", "active", "created")
    list_filter = ("active",)
    search_fields = ("public_id", "name", "description")
    fields = ("public_id", "name", "description", "active", "metadata", "created")
    readonly_fields = ("public_id", "created")
    inlines = [PriceInline]


@admin.register(Price)
class PriceAdmin(admin.ModelAdmin):
    list_display = ("public_id", "product", "nickname", "unit_amount", "interval", "active", "created")
    list_filter = ("interval", "active", "unit_amount_currency")
    list_select_related = ("product",)
    search_fields = ("public_id", "nickname", "product__name", "product__public_id")
    search_help_text = "Search by id, nickname or product."
    fields = ("public_id", "product", "nickname", "unit_amount", "interval", "active", "created")
    readonly_fields = ("public_id", "created")
    autocomplete_fields = ("product",)

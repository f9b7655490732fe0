"""Isolation in the Django admin: a staff user who is not a superuser sees, changes and points at only
what they own. Superusers see everything.

Every ModelAdmin (and inline) names the path from its model to the user who owns a row, e.g.
``owner_path = "run__workflow__owner"``; ``"pk"`` means the row is the user. From that one path:

- lists, search, actions, and the change, delete and history pages see only the user's own rows
  (``get_queryset``); another user's row answers 404, exactly like a row that does not exist, so the
  admin cannot be used to learn which ids exist;
- form choices for a foreign key or many-to-many field are scoped by the admin of the model they point
  to, so an object cannot be pointed at another user's workflow, version, trigger or run by typing its
  id into a raw-id field; the raw-id widget also shows no label for an id the user may not see;
- list filters whose choices Django reads from the whole table (a relation, or "all values" of a field)
  offer only values from the user's own rows.

Autocomplete needs nothing more: Django's autocomplete view searches the target admin's
``get_queryset``. A custom ``SimpleListFilter`` must build its choices from ``get_queryset`` itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.contrib.admin.utils import get_fields_from_path
from django.contrib.admin.widgets import ForeignKeyRawIdWidget
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.fields.related import RelatedField
from django.forms import ModelChoiceField
from django.http import Http404, HttpRequest, HttpResponseRedirect

if TYPE_CHECKING:
    _Base = admin.options.BaseModelAdmin[Any]
else:
    _Base = object


def sees_everything(request: HttpRequest) -> bool:
    return bool(getattr(request.user, "is_superuser", False))


def scope_to_owner(
    queryset: models.QuerySet[Any], owner_path: str, request: HttpRequest
) -> models.QuerySet[Any]:
    """The rows of ``queryset`` that the requesting user may see."""
    if sees_everything(request):
        return queryset
    if not request.user.is_authenticated:
        return queryset.none()
    return queryset.filter(**{owner_path: request.user.pk})


class OwnValuesFieldListFilter(admin.AllValuesFieldListFilter):
    """The "all values" filter, with the values of the user's own rows only: Django reads them from the
    whole table when the field is on a related model."""

    def __init__(
        self,
        field: models.Field[Any, Any],
        request: HttpRequest,
        params: dict[str, Any],
        model: type[models.Model],
        model_admin: admin.ModelAdmin[Any],
        field_path: str,
    ) -> None:
        super().__init__(field, request, params, model, model_admin, field_path)
        own = model_admin.get_queryset(request).distinct().order_by(field_path)
        self.lookup_choices = own.values_list(field_path, flat=True)


def _scoped_list_filter(model: type[models.Model], item: Any) -> Any:
    """The filter to use for a non-superuser in place of ``item`` (an entry of ``list_filter``)."""
    if isinstance(item, str):
        path, chosen = item, None
    elif isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[0], str):
        path, chosen = item
    else:
        return item  # a SimpleListFilter: it must scope its own choices
    field = get_fields_from_path(model, path)[-1]
    if chosen in (None, admin.RelatedFieldListFilter) and field.is_relation:
        return (path, admin.RelatedOnlyFieldListFilter)
    if chosen is admin.AllValuesFieldListFilter:
        return (path, OwnValuesFieldListFilter)
    if chosen is None and not (
        isinstance(field, (models.BooleanField, models.DateField)) or getattr(field, "flatchoices", None)
    ):
        return (path, OwnValuesFieldListFilter)  # Django would pick AllValuesFieldListFilter
    return item


class ScopedForeignKeyRawIdWidget(ForeignKeyRawIdWidget):
    """A raw-id field that shows the label and link of an object only if the user may see it: Django's
    widget looks the typed id up in the whole table, and a refused form is shown again with it."""

    def __init__(self, *args: Any, visible: models.QuerySet[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.visible = visible

    def label_and_url_for_value(self, value: Any) -> tuple[str, str]:
        key = self.rel.get_related_field().name
        try:
            allowed = self.visible.filter(**{key: value}).exists()
        except (ValueError, TypeError, ValidationError):
            allowed = False
        return super().label_and_url_for_value(value) if allowed else ("", "")


class OwnerScopedMixin(_Base):
    """Mix into a ModelAdmin or an InlineModelAdmin (before it) and set ``owner_path``."""

    owner_path: str = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.owner_path:
            raise TypeError(f"{cls.__name__} must set owner_path")

    def get_queryset(self, request: HttpRequest) -> models.QuerySet[Any]:
        return scope_to_owner(super().get_queryset(request), self.owner_path, request)

    def get_field_queryset(
        self, db: str | None, db_field: RelatedField[Any, Any], request: HttpRequest
    ) -> models.QuerySet[Any] | None:
        queryset = super().get_field_queryset(db, db_field, request)
        if sees_everything(request):
            return queryset
        target = db_field.remote_field.model
        if queryset is None:
            queryset = target._default_manager.using(db).all()
        related_admin = self.admin_site._registry.get(target)
        if isinstance(related_admin, OwnerScopedMixin):
            return scope_to_owner(queryset, related_admin.owner_path, request)
        return queryset  # a model nobody owns (a Permission): every user may pick any

    def formfield_for_foreignkey(
        self, db_field: models.ForeignKey[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> ModelChoiceField | None:
        autocomplete = self.get_autocomplete_fields(request)
        raw = db_field.name in self.raw_id_fields and db_field.name not in autocomplete
        if raw and "widget" not in kwargs and not sees_everything(request):
            visible = self.get_field_queryset(kwargs.get("using"), db_field, request)
            if visible is not None:  # always, for a user who does not see everything
                kwargs.setdefault("queryset", visible)
                kwargs["widget"] = ScopedForeignKeyRawIdWidget(
                    db_field.remote_field, self.admin_site, using=kwargs.get("using"), visible=visible
                )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_list_filter(self, request: HttpRequest) -> Any:
        filters = super().get_list_filter(request)  # type: ignore[misc]
        if sees_everything(request):
            return filters
        return [_scoped_list_filter(self.model, item) for item in filters]

    def _get_obj_does_not_exist_redirect(
        self, request: HttpRequest, opts: Any, object_id: str
    ) -> HttpResponseRedirect:
        # Django redirects to the index with "… doesn't exist"; a 404 answers the same, as the API does,
        # and it is the same for another user's row as for a missing one.
        raise Http404("Not found.")

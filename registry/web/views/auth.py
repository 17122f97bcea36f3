"""Sign in and out. Only active staff users get past the login form."""

from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import views as auth_views

from registry.web.access import is_administrator


class LoginView(auth_views.LoginView):
    template_name = "web/login.html"
    # Refuses users who are not staff, with a message saying so.
    authentication_form = AdminAuthenticationForm

    def dispatch(self, request, *args, **kwargs):
        # A signed-in administrator goes on; a signed-in non-staff user may sign in as someone else.
        self.redirect_authenticated_user = is_administrator(request.user)
        return super().dispatch(request, *args, **kwargs)


class LogoutView(auth_views.LogoutView):
    # POST only (Django's LogoutView): a link cannot sign an administrator out.
    next_page = "web:login"

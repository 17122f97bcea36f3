"""Sign in and out. Only active staff users get past the login form."""

from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import views as auth_views


class LoginView(auth_views.LoginView):
    template_name = "web/login.html"
    # Refuses users who are not staff, with a message saying so.
    authentication_form = AdminAuthenticationForm
    redirect_authenticated_user = True


class LogoutView(auth_views.LogoutView):
    # POST only (Django's LogoutView): a link cannot sign an administrator out.
    next_page = "web:login"

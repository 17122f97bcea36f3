from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('registry', '0006_roles'),
    ]

    operations = [
        migrations.CreateModel(
            name='Heartbeat',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('component', models.CharField(choices=[('worker', 'Worker'), ('beat', 'Beat')], max_length=16)),
                ('node', models.CharField(max_length=255)),
                ('beat_at', models.DateTimeField()),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('component', 'node'), name='heartbeat_component_node')],
            },
        ),
    ]
